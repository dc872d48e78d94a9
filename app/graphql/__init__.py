"""The GraphQL API: thin types over the domain services. The only place that imports strawberry."""
