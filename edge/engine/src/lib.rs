//! dipnuc's noise-pattern engine, shared by the edge daemon and the host tool: the TV-DIP fit
//! and its classical counterparts ([`nuc`]), the hand-written CPU kernels the fit runs on
//! ([`kernels`]), frame files ([`imageio`]) and the allocator tuning for fitting programs
//! ([`heap`]). It knows nothing of cameras, links or daemons.
//!
//! Module dependencies run one way: `nuc` → `kernels`, `nuc` → `imageio`; `heap` stands alone.
pub mod heap;
pub mod imageio;
pub mod kernels;
pub mod nuc;
