// Explorer: the user's held-out test item and the ranks each run gave it at test time (HELD_OUT).
MATCH (u:User {id: $id})-[h:HELD_OUT]->(i:Item)
RETURN h.run AS run, i.id AS item, i.title AS title, h.retriever_rank AS retriever_rank,
       h.final_rank AS final_rank, h.candidates AS candidates
ORDER BY run
