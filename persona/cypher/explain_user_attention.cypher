// Explanations: the persona's meta-path attention shares per user (JSON), to weight the path kinds.
// Returns: id, att.
MATCH (u:User)
WHERE u.persona_attention IS NOT NULL
RETURN u.id AS id, u.persona_attention AS att
