// lakestacks data docs: the page's "Failed Only" filter and its "Show more" blocks, without
// jQuery or Bootstrap (which Great Expectations loads from CDNs). Written for lakestacks.
document.documentElement.classList.add("ls-js");

function lsShowSucceeded(show) {
  const display = show ? "" : "none";
  document.querySelectorAll(".hide-succeeded-validation-target-child").forEach((el) => {
    el.parentElement.style.display = display;
  });
  document.querySelectorAll(".hide-succeeded-validation-target").forEach((el) => {
    el.style.display = display;
  });
  document.querySelectorAll(".hide-succeeded-validations-column-section-target-child")
    .forEach((el) => {
      const section = el.parentElement.parentElement;
      section.style.display = display;
      if (section.id) {
        document.querySelectorAll(`a[href$="${section.id}"]`).forEach((link) => {
          link.style.display = display;
        });
      }
    });
}

function showAllValidations() { lsShowSucceeded(true); }
function hideSucceededValidations() { lsShowSucceeded(false); }

document.addEventListener("click", (event) => {
  const label = event.target.closest(".btn-group-toggle .btn");
  if (label) {
    label.parentElement.querySelectorAll(".btn").forEach((b) => b.classList.remove("active"));
    label.classList.add("active");
  }
  const link = event.target.closest('a[data-toggle="collapse"]');
  if (link) {
    const target = document.getElementById((link.getAttribute("href") || "").slice(1));
    if (target) {
      event.preventDefault();
      target.classList.toggle("show");
      link.setAttribute("aria-expanded", String(target.classList.contains("show")));
    }
  }
});
