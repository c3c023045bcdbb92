"""APO = ProTeGi: meta-prompts, parsing, protection, expansion, selection and search."""
