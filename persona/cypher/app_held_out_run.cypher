// Explorer: every user's held-out test item rank of run $run, with the user's number of training items.
MATCH (u:User)-[h:HELD_OUT]->(i:Item)
WHERE h.run = $run
WITH u, i, h
MATCH (u)-[r:RATED]->(:Item)
WHERE r.split = 'train'
RETURN u.id AS user, i.id AS item, h.retriever_rank AS retriever_rank, h.final_rank AS final_rank,
       count(r) AS n_train
