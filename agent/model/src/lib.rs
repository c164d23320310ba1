//! Model backends for ossa: turn rendered harmony pieces into token ids and generate
//! from them, in-process through llama.cpp or remotely over HTTP.
#![deny(missing_docs)]
