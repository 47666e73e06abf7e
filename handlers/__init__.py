"""The conversation flows. They know no channel: nothing here imports telegram or twilio."""
