-- wrk script: the liveness probe with an Origin that is not a frontend's. A request with an
-- Origin goes through the app's route, request context and hooks (api.edge.ConstantAnswers
-- answers only those without one): what any route of the app pays around its view.
wrk.headers["Origin"] = "https://bench.invalid"
