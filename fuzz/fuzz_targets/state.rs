//! Any bytes as a state document: reading gives a state or a named error and never panics; a
//! state that was read is written back to bytes that read back to the same state.
#![no_main]

use dtm_engine::state::State;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match State::from_bytes(data, "fuzz") {
        Err(e) => drop(e.to_string()),
        Ok(state) => {
            let bytes = state.to_bytes();
            let again = match State::from_bytes(&bytes, "fuzz") {
                Ok(again) => again,
                Err(e) => panic!("a state dtm wrote does not read back: {e}"),
            };
            assert_eq!(again.to_bytes(), bytes, "the state changed on a round trip");
        }
    }
});
