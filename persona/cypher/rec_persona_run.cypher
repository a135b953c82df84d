// The persona run whose vectors the store's users carry now (User.persona_run), most common first.
// Returns: run, users.
MATCH (u:User)
WHERE u.persona_run IS NOT NULL
RETURN u.persona_run AS run, count(*) AS users
ORDER BY users DESC, run
LIMIT 1
