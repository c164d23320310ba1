//! Any JSON either fails to deserialize or renders (or fails with a RenderError) in
//! every mode, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ossa_prompts::{
    Conversation, RenderOptions, Role, render_conversation, render_conversation_for_completion,
    render_conversation_for_training,
};

fuzz_target!(|data: &[u8]| {
    let Ok(conversation) = serde_json::from_slice::<Conversation>(data) else {
        return;
    };
    for auto_drop_analysis in [true, false] {
        let options = RenderOptions { auto_drop_analysis };
        if let Ok(rendered) = render_conversation(&conversation, &options) {
            assert_eq!(rendered.to_literal_string().len(), rendered.len_bytes());
        }
        let _ = render_conversation_for_training(&conversation, &options);
        let _ = render_conversation_for_completion(&conversation, Role::Assistant, &options);
    }
});
