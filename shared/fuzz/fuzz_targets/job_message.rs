//! SQS job messages (`rhosync_server::ports::jobs::JobMessage`), decoded as the workers
//! decode them: never a panic, and a decoded message encodes and decodes to itself.
//! Messages holding a non-integer number are compared only for decoding again: without
//! serde_json's `float_roundtrip` feature a float may come back one ulp off
//! (docs/fuzzing.md, "Findings").
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhosync_fuzz::has_float;
use rhosync_server::ports::{CudOp, Job, JobMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let Ok(message) = serde_json::from_str::<JobMessage>(body) else { return };
    let _ = message.job.kind();
    if let Job::Cud { write: Some(write), .. } = &message.job {
        let _ = write.is_empty();
        for op in [CudOp::Create, CudOp::Update, CudOp::Delete] {
            let _ = (op.as_str(), write.records(op).len());
        }
    }
    let encoded = serde_json::to_string(&message).expect("a decoded message encodes");
    let decoded: JobMessage = serde_json::from_str(&encoded).expect("an encoded message decodes");
    if !has_float(&serde_json::to_value(&message).expect("a decoded message is a value")) {
        assert_eq!(decoded, message);
    }
});
