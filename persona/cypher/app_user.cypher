// Explorer: one user's written-back persona, attention and summary.
MATCH (u:User {id: $id})
RETURN u.id AS id,
       u.persona AS persona,
       u.persona_attention AS attention,
       u.persona_run AS persona_run,
       u.persona_model AS persona_model,
       u.llm_summary AS summary,
       u.llm_summary_source AS summary_source,
       u.planted_taste AS planted_taste
