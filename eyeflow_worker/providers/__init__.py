"""LLM providers behind one interface (`base.Provider`), chosen by name through `registry`."""
