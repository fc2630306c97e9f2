// The API reference: Swagger UI (vendored, no CDN) on this deployment's /openapi.json.
window.addEventListener("load", () => {
  const root = document.documentElement.dataset.root || "";
  window.ui = SwaggerUIBundle({
    url: root + "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: false,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
