wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "Bench Mark", "email": "bench@example.com", "message": "A benchmark inquiry about Ubud, please ignore.", "group_size": 2}'
