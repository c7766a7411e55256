"""What a solve hands to people: plan tables and summaries, and a plan's uncertainty under the
coefficient error model."""
