//! Case lifecycles and timeliness aggregates (see ARCHITECTURE.md).
