// Every user node (persona export). Returns: id.
MATCH (u:User)
RETURN u.id AS id
