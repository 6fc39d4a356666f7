"""Stage 2, the modalities: wrapping entities into token strings and finding them again (``serialization``),
the table of modalities (control tokens, payload parser, phrase, vocabulary category), corpus symbol counting
for ``vocab build`` (``census``), and ``biomatrix wrap|unwrap``.

May import: ``vocab`` and the base layer (``errors``, ``io``, ``paths``).
"""
