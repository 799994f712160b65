"""The warm, isolated process that actually executes code (see DESIGN.md, "The worker")."""
