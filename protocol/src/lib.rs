//! Wire protocol shared by the dipnuc edge daemon and the host tools.
#![cfg_attr(not(feature = "std"), no_std)]
