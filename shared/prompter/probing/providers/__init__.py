"""Provider adapters behind one interface, and the provider version key (SPEC §2.3, §4)."""
