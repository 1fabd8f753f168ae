//! RhoConnect document names (`rhosync_engine::model::DocName`): every name parses, and
//! the parsed name prints back to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhosync_engine::model::DocName;

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else { return };
    let parsed = DocName::parse(name);
    let printed = parsed.to_name();
    assert_eq!(printed, name, "{parsed:?} printed back differently");
    assert_eq!(DocName::parse(&printed), parsed);
});
