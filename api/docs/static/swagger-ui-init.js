// Starts Swagger UI on /docs from the settings the page carries as data: the page's
// Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  var container = document.getElementById("swagger-ui-container");
  var config = {
    url: container.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui-container",
    validatorUrl: null // never hand the spec to an outside validator
  };
  var overrides = JSON.parse(document.getElementById("swagger-ui-config").textContent);
  for (var name in overrides) {
    if (Object.prototype.hasOwnProperty.call(overrides, name)) {
      config[name] = overrides[name];
    }
  }
  window.ui = SwaggerUIBundle(config);
})();
