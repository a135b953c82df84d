// User properties used by diagnostics and the 'llm' user-embedding variant.
// Returns: id, planted_taste (demo ground truth, may be null), llm_summary, llm_summary_source.
MATCH (u:User)
RETURN u.id AS id, u.planted_taste AS planted_taste, u.llm_summary AS llm_summary,
       u.llm_summary_source AS llm_summary_source
