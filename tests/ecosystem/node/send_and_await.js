// A foreign client: sends CreateOrder to <ns>.commands and waits for the saga's final
// event about that order on <ns>.events. Prints that event as one JSON line.
// usage: node send_and_await.js AMQP_URL NAMESPACE ORDER_JSON [TIMEOUT_SECONDS]
'use strict';

const amqp = require('amqplib');
const { publish } = require('./wire');

async function main() {
  const [url, ns, orderJson, timeoutArg] = process.argv.slice(2);
  const order = JSON.parse(orderJson);
  const timeout = Number(timeoutArg || 60) * 1000;
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange(`${ns}.commands`, 'direct', { durable: true });
  await channel.assertExchange(`${ns}.events`, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  for (const type of ['OrderCompleted', 'OrderCancelled']) {
    await channel.bindQueue(queue, `${ns}.events`, type);
  }
  const outcome = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no final event in time')), timeout);
    channel.consume(queue, (msg) => {
      const payload = JSON.parse(msg.content.toString());
      channel.ack(msg);
      if (payload.order_id !== order.order_id) return;
      clearTimeout(timer);
      resolve({
        type: msg.properties.type,
        message_id: msg.properties.messageId,
        correlation_id: msg.properties.correlationId,
        headers: msg.properties.headers,
        payload,
      });
    });
  });
  const sent = await publish(channel, `${ns}.commands`, 'CreateOrder', 'command', order);
  const final = await outcome;
  process.stdout.write(JSON.stringify({ sent: sent.messageId, final }) + '\n');
  await connection.close();
}

main().catch((err) => {
  process.stderr.write(`send_and_await: ${err.message}\n`);
  process.exit(2);
});
