// The hosted checkout page's card payment (PAYMENT_GATEWAY=stripe), loaded after Stripe.js.
// The card goes from Stripe.js to Stripe, never to us: we post the PaymentMethod's id with the
// order form, and the server completes the order with it. When the bank asks for 3-D Secure the
// server answers the page again with the PaymentIntent's client secret on the form: Stripe.js
// runs the check and the form is posted again with the PaymentIntent's id.
(function () {
  "use strict";
  var form = document.getElementById("order-form");
  if (!form || !form.dataset.stripeKey || typeof window.Stripe !== "function") {
    return;
  }
  var stripe = window.Stripe(form.dataset.stripeKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var message = document.getElementById("payment-message");
  var button = form.querySelector("button[type=submit]");

  function say(text) {
    message.textContent = text;
    button.disabled = false;
  }

  function post(field, value) {
    form.querySelector("input[name=" + field + "]").value = value;
    form.submit(); // a plain post: the server answers with the confirmation or the page again
  }

  if (form.dataset.clientSecret) {
    button.disabled = true;
    stripe.confirmCardPayment(form.dataset.clientSecret).then(function (result) {
      if (result.error || !result.paymentIntent) {
        say((result.error && result.error.message) || "Your bank did not confirm the payment. Please try again.");
      } else {
        post("payment_intent_id", result.paymentIntent.id);
      }
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    message.textContent = "";
    var name = [form.elements.first_name.value, form.elements.last_name.value].join(" ").trim();
    stripe
      .createPaymentMethod({
        type: "card",
        card: card,
        billing_details: { email: form.elements.email.value, name: name },
      })
      .then(function (result) {
        if (!result || result.error || !result.paymentMethod) {
          say((result && result.error && result.error.message) || "We could not read your card details.");
        } else {
          post("payment_method_id", result.paymentMethod.id);
        }
      });
  });
})();
