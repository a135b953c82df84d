// Whether a user id exists (clear errors in persona explain).
// Returns: id.
MATCH (u:User {id: $user})
RETURN u.id AS id
