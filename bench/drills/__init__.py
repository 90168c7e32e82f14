"""Reliability drills (issue 7 §2): disturb a running pipeline, then prove nothing acknowledged was lost or doubled."""
