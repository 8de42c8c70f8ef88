"""The use cases and the ports (Store, Bus, Sender) they need. Imports domain only."""
