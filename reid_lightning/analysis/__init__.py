"""Analysis tools: what a network costs (complexity: parameters and multiply-adds, thesis Table 4.3)."""
