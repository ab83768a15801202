"""What client applications and operators use to talk to Janus."""
