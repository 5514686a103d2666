//! The TV-DIP noise-pattern engine and its classical counterparts.
