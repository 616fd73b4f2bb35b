// Starts GraphiQL against this Pacer: queries and mutations over POST /graphql (the session
// cookie rides along; X-Pacer-Request satisfies the CSRF guard), subscriptions over the
// graphql-transport-ws WebSocket on the same path. Every script is served by Pacer itself.
(function () {
  "use strict";
  const http = new URL("/graphql", window.location.href);
  const ws = new URL("/graphql", window.location.href);
  ws.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
  const fetcher = window.GraphiQL.createFetcher({
    url: http.href,
    headers: { "x-pacer-request": "1" },
    wsClient: window.graphqlWs.createClient({ url: ws.href, lazy: true }),
  });
  const root = window.ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(window.React.createElement(window.GraphiQL, { fetcher: fetcher }));
})();
