"""Who is calling: API keys and their lifecycle, OIDC tokens, the principal cache, key use."""
