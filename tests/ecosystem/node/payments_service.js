// A foreign service: owns ProcessPayment and RefundPayment on <ns>.commands and answers
// with PaymentSucceeded / PaymentRefunded on <ns>.events, as the Python payments service
// does. It copies correlation_id and sets causation_id, acks only after the answer is
// confirmed, and answers a redelivered command (same message_id) with the same outcome.
// usage: node payments_service.js AMQP_URL NAMESPACE QUEUE
'use strict';

const amqp = require('amqplib');
const { publish } = require('./wire');

async function main() {
  const [url, ns, queueName] = process.argv.slice(2);
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange(`${ns}.commands`, 'direct', { durable: true });
  await channel.assertExchange(`${ns}.events`, 'topic', { durable: true });
  await channel.assertQueue(queueName, { durable: true });
  for (const type of ['ProcessPayment', 'RefundPayment']) {
    await channel.bindQueue(queueName, `${ns}.commands`, type);
  }
  await channel.prefetch(10);
  const charges = new Map(); // order_id -> payment_id (a real service keeps this durably)
  await channel.consume(queueName, async (msg) => {
    const type = msg.properties.type;
    const command = JSON.parse(msg.content.toString());
    const ids = {
      correlationId: msg.properties.correlationId,
      causationId: msg.properties.messageId,
    };
    if (type === 'ProcessPayment') {
      if (!charges.has(command.order_id)) charges.set(command.order_id, `node-${command.order_id}`);
      await publish(channel, `${ns}.events`, 'PaymentSucceeded', 'event', {
        order_id: command.order_id,
        payment_id: charges.get(command.order_id),
        amount: command.amount,
      }, ids);
    } else if (type === 'RefundPayment') {
      await publish(channel, `${ns}.events`, 'PaymentRefunded', 'event', {
        order_id: command.order_id,
        payment_id: command.payment_id,
        amount: command.amount,
      }, ids);
    }
    channel.ack(msg);
    process.stdout.write(`handled ${type} ${msg.properties.messageId}\n`);
  });
  process.stdout.write('ready\n');
  const stop = async () => { await connection.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`payments_service: ${err.message}\n`);
  process.exit(2);
});
