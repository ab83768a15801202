"""janus-web: the live web console (README "Web console")."""
