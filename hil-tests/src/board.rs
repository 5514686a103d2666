//! Which board a test runs on. Like embassy's HIL tests, each test declares the boards it can
//! run on; the runner environment picks: `DIPNUC_RIG=<path to boards/hil-rig.toml>` selects the
//! real rig, otherwise the simulated camera on this machine. A test that needs something the
//! chosen board does not have prints `skipped: <reason>` and returns.

use crate::rig::Rig;

/// Where a test runs.
#[derive(Debug, Clone)]
pub enum Board {
    /// `dipnuc-edge` on its simulated camera, links over loopback and pseudo-terminals.
    Sim,
    /// The HIL rig: real camera, real serial line, GPIO power and shutter.
    Rig(Box<Rig>),
}

/// What a test can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any board.
    Any,
    /// The simulator only (needs its ground truth or fault injection on loopback).
    Sim,
    /// The rig only (power cycling, shutter).
    Rig,
}

impl Board {
    /// The board chosen by the environment. Panics when `DIPNUC_RIG` is set but unusable: a
    /// rig run must not silently fall back to the simulator.
    pub fn from_env() -> Board {
        match std::env::var_os("DIPNUC_RIG") {
            None => Board::Sim,
            Some(path) => match Rig::load(std::path::Path::new(&path)) {
                Ok(rig) => Board::Rig(Box::new(rig)),
                Err(e) => panic!("DIPNUC_RIG={}: {e:#}", path.to_string_lossy()),
            },
        }
    }

    /// The board for a test that `needs` this, or `None` after printing why it is skipped.
    pub fn for_test(test: &str, needs: Needs) -> Option<Board> {
        let board = Board::from_env();
        let skip = match (&board, needs) {
            (Board::Sim, Needs::Rig) => Some("needs the HIL rig; DIPNUC_RIG is not set"),
            (Board::Rig(_), Needs::Sim) => Some("simulator-only test; DIPNUC_RIG selects the rig"),
            _ => None,
        };
        match skip {
            Some(reason) => {
                println!("skipped: {test}: {reason}");
                None
            }
            None => {
                println!("{test}: board {}", board.name());
                Some(board)
            }
        }
    }

    /// `sim` or `hil-rig`.
    pub fn name(&self) -> &'static str {
        match self {
            Board::Sim => "sim",
            Board::Rig(_) => "hil-rig",
        }
    }
}
