// Swagger UI over this instance's OpenAPI schema, from files paperfeed serves itself.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
