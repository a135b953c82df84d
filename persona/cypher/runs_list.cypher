// The store's recorded runs, newest first (persona runs, serving's choice of model).
// Returns: id, kind, created_at, store_id, settings, settings_digest, metrics, artefacts, persona_run.
MATCH (r:Run)
RETURN r.id AS id, r.kind AS kind, r.created_at AS created_at, r.store_id AS store_id, r.settings AS settings,
       r.settings_digest AS settings_digest, r.metrics AS metrics, r.artefacts AS artefacts, r.persona_run AS persona_run
ORDER BY created_at DESC, id DESC
