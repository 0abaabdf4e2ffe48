//! Hijacked connections for attach and exec start (filled in with the engine wiring).
