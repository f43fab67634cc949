// Ask an idaas endpoint what is in a photo, from Node.js 18+ (built-in fetch).
//   node serving/examples/annotate.js http://127.0.0.1:5000 photo.jpg [tasks]
const fs = require("fs");
const path = require("path");

async function annotate(url, photoPath, tasks) {
  const body = {
    dataframe_records: [{ id: path.basename(photoPath), image: fs.readFileSync(photoPath).toString("base64") }],
    params: tasks ? { tasks } : {},
  };
  const response = await fetch(`${url}/invocations`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  // Every error is {"error_code": ..., "message": ...} (see /openapi.json).
  if (!response.ok) throw new Error(`HTTP ${response.status} ${answer.error_code}: ${answer.message}`);
  return answer.predictions;
}

const [url, photo, tasks] = process.argv.slice(2);
annotate(url, photo, tasks)
  .then((predictions) => console.log(JSON.stringify(predictions)))
  .catch((err) => { console.error(err.message); process.exit(1); });
