//! Shared fixtures for the end-to-end tests: starting the edge daemon, link fault injection.
