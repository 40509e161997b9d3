//! `pactor -Sx` handing its downloads to the running daemon (op `fetch` on the control socket); written by the handoff work.
