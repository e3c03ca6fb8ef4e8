"""The filter grammar shared by every search: lexer, parser to an AST, AST to SQL, in-memory evaluator."""
