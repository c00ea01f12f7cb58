"""Pure text → command parsing for edubot: what a chat message asks for, without any I/O."""
