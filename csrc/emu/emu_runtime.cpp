// PLACEHOLDER (being written): emulator runtime.
