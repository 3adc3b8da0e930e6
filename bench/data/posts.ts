/** The db.json of the data benches: `posts` posts, 10 % by typicode, 97 other authors, views cycling 0-999. */
export function postsDocument(posts: number): string {
  return JSON.stringify({
    users: [],
    posts: Array.from({ length: posts }, (_, i) => ({
      id: i + 1,
      title: `Post number ${i + 1}`,
      author: i % 10 === 0 ? 'typicode' : `author${i % 97}`,
      views: i % 1000,
      body: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit.',
    })),
  });
}
