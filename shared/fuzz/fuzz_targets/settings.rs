//! The settings file (`rhosync_server::config::Settings::parse`): any text parses or
//! fails with an error; what parses is usable — every source re-reads through the
//! file's own parser, on-demand sources get defaults, and the session cookie can be set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhosync_server::auth::session;
use rhosync_server::config::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(settings) = Settings::parse(text, "development") else { return };
    for source in &settings.sources {
        let again = settings.source_with(&source.name, &serde_json::Map::new());
        assert!(again.is_ok(), "source {:?} parsed from the file but not again: {again:?}", source.name);
    }
    let _ = settings.source_or_default("NotInTheFile");
    let _ = session::set_cookie(&settings.app, "v1.x.y", 1_800_000_000);
});
