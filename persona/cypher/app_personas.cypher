// Explorer: every stored persona with the user facts a persona map is coloured by.
MATCH (u:User)
WHERE u.persona IS NOT NULL
RETURN u.id AS user, u.persona AS persona, u.planted_taste AS planted_taste, u.occupation AS occupation,
       u.age AS age, u.gender AS gender, u.persona_run AS persona_run
