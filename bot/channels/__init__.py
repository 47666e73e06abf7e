"""Thin adapters: a provider's payload in, one Inbound out; a Reply in, the provider's call out."""
